from qsession.cli import main

raise SystemExit(main())
