"""Cases: intake, forms, transitions, access and reading; services that know nothing of Flask."""
