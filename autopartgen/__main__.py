from autopartgen.cli import main

raise SystemExit(main())
