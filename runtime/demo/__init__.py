"""The local-platform demo that ``make demo`` runs."""
