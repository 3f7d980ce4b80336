"""The local broker's Maven pom and logging configuration, shipped as package data."""
