"""``python -m backtest_runner``: run the job named by JOB_ID and exit with a code from exit_codes."""

import sys

from backtest_runner.run import main

sys.exit(main())
