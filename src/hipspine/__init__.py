"""hipspine: a clinical system for hip and low back pain.

The clinical core (:mod:`hipspine.clinical`) is pure: it reads only its own reviewed
data files and performs no other I/O. Everything else adapts it to people and machines.
"""

__version__ = "0.1.0"
