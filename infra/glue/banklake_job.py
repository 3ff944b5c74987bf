"""AWS Glue 5.x script for the banklake job (ScriptLocation); banklake comes as a wheel."""

import sys

from banklake.aws.glue_job import main

sys.exit(main())
