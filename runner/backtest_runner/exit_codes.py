"""How the runner's process ends. The task-events Lambda decides the job's end state from these.

SUCCESS      results are in the bucket and the summary is in the job table.
CRASH        something unexpected (a bug, AWS unreachable, freqtrade crashed): retrying may help.
BAD_REQUEST  the job itself cannot run (unknown strategy, no candles, invalid request,
             freqtrade refused its configuration): retrying cannot help.
TERMINATED   SIGTERM (e.g. a Spot interruption): freqtrade was stopped; 128 + SIGTERM(15).
"""

SUCCESS = 0
CRASH = 1
BAD_REQUEST = 2
TERMINATED = 143
