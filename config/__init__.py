"""Configuration classes. Every setting comes from an environment variable (see README)."""

from config.settings import BaseConfig, ProductionConfig, TestConfig, config_from_env

__all__ = ["BaseConfig", "ProductionConfig", "TestConfig", "config_from_env"]
