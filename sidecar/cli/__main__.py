"""`python -m sidecar.cli`."""

from sidecar.cli import main

raise SystemExit(main())
