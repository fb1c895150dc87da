"""webgen: describe a website, get a working multi-page site; learn to do it better with RL."""

__version__ = "0.1.0"
