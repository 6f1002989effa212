from fauxpilot.cli import main

raise SystemExit(main())
