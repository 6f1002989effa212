"""Engines run models; they know nothing about HTTP."""
