"""``python -m infra.samlocal``: build, invoke every function with every event, check."""

from infra.samlocal.run import main

raise SystemExit(main())
