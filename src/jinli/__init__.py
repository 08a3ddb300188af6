"""Jinli (锦鲤): a self-hosted marketing-campaign engine for brands in the WeChat ecosystem."""

__version__ = "0.1.0"
