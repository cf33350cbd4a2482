"""The Dagster layer: thin assets over the engines in pipeline/, spatialqa_gen/ and trainer/.

Dagster's beta/preview warnings (partitioned checks, pools, kinds, ...) concern Dagster's own API
stability, not anything a user of this project can act on: they are silenced for every entry point
(the CLI, `dagster dev`'s code server, run workers), before any definition is made."""
import warnings

from dagster import BetaWarning, PreviewWarning

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
