"""`python -m whisper_pipeline.cli`: the same as the `whisper-pipeline` command."""

import sys

from whisper_pipeline.cli import main

sys.exit(main())
