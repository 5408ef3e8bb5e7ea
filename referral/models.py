"""Every model module, imported in one place so metadata is complete (Alembic, create_all)."""

from __future__ import annotations


def import_all() -> None:
    from .auth import models as auth_models  # noqa: F401
    from .kernel import models as case_models  # noqa: F401
    from .kernel import note_models  # noqa: F401
    from .kernel import attachment_models  # noqa: F401
    from .kernel import meeting_models  # noqa: F401
    from .network import models as network_models  # noqa: F401
    from .kernel import key_models  # noqa: F401
    from .clocks import models as clock_models  # noqa: F401
    from .kernel import referral_models  # noqa: F401
    from .audit import models as audit_models  # noqa: F401
    from .stats import models as stats_models  # noqa: F401
    from .plan import models as plan_models  # noqa: F401
    from .mesa import models as mesa_models  # noqa: F401
    from . import generation  # noqa: F401
