"""The model as MLflow loads and serves it: a pyfunc "model from code" around the skops file.

MLflow copies this file, and the tabflow_rows package beside it (code_paths), into every
logged model and runs it when the model is loaded (`mlflow.pyfunc.load_model`, `mlflow
models serve`, `spark_udf`). Nothing is unpickled: the pipeline is read from its skops
file, trusting the types tabflow.models.SKOPS_TRUSTED named when the model was logged (its
model_config), so loading and serving work with MLFLOW_ALLOW_PICKLE_DESERIALIZATION off.
predict() takes raw rows and answers with the columns of tabflow_rows.answer_columns, as
`tabflow predict` does.

Rows the model cannot read get the client a 400 whose message is the one line tabflow
predict prints; any other failure gets a 500 with one generic line, its traceback going
to the server's log only: no stack trace, path or environment detail reaches a client.
"""

import logging
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST, INTERNAL_ERROR

from tabflow_rows import RowError, answer

_log = logging.getLogger("tabflow_rows.served")


class RowsRefused(MlflowException):
    """What a client sees: one line, and no stack trace (none is attached).

    MLflow's scoring server prefixes the message of an MlflowException raised in predict()
    with the whole input ("Failed to predict data '...'"): this message keeps its first
    value, so the client reads the problem in its first words.
    """

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_line"):
            self._line = value


class Scorer(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        import skops.io

        self.model = skops.io.load(
            context.artifacts["model"], trusted=list(context.model_config["skops_trusted"])
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        try:
            return answer(self.model, model_input)
        except RowError as err:
            raise RowsRefused(err.located(), error_code=BAD_REQUEST) from None
        except Exception as err:
            _log.exception("scoring failed")
            line = "the model could not score these rows (an error on the server, logged there)"
            raise RowsRefused(line, error_code=INTERNAL_ERROR) from err


# Run by MLflow as the model's code file (imported under a name of its own), not when
# tabflow imports this module to name the file.
if __name__ != "tabflow_rows.served":
    mlflow.models.set_model(Scorer())
