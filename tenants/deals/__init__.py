"""Deals (opportunities): amounts moving through a pipeline's stages."""
