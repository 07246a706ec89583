"""The MLflow "model from code" logged with every risk model: MLflow runs it at load time.

Logging the model as code keeps pickles out of the registry; the scorer then reads its booster
and spec from the model's artifacts (see `RiskPyfunc.load_context`). nbo never imports this file.
"""

from mlflow.models import set_model

from models.risk import RiskPyfunc

set_model(RiskPyfunc())
