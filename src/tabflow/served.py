"""The model as MLflow serves it: a pyfunc "model from code" around the skops file.

MLflow copies this file into every logged model and runs it when the model is loaded
(`mlflow.pyfunc.load_model`, `mlflow models serve`). Nothing is unpickled: the pipeline
is read from its skops file, trusting the types tabflow.models.SKOPS_TRUSTED named when
the model was logged (its model_config), so loading and serving work with
MLFLOW_ALLOW_PICKLE_DESERIALIZATION off. predict() answers with the probability of the
positive class, one per row. Self-contained on purpose (skops, pandas): the serving
environment needs no tabflow. (`tabflow predict` reads the skops file itself, with the
installed package's list, and runs no code from the model.)
"""

from typing import Any

import mlflow.pyfunc
import pandas as pd


class Classifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        import skops.io

        self.model = skops.io.load(
            context.artifacts["model"], trusted=list(context.model_config["skops_trusted"])
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.Series:
        probability = self.model.predict_proba(model_input)[:, 1]
        return pd.Series(probability, name="probability")


mlflow.models.set_model(Classifier())
