"""pocketchat: a private chat assistant for ordinary CPUs."""

__version__ = "0.1.0"
