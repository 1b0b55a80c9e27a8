from serika.cli import main

raise SystemExit(main())
