"""A service Context on its own session, as one request (or one worker) has.

Services need no app context, and none is pushed: browser requests keep their own `g`.
"""

from referral.units import unit_of_work

__all__ = ["unit_of_work"]
