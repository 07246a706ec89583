"""The MLflow "model from code" logged with every fraud model: MLflow runs it at load time.

Like `risk_mlflow.py`: no pickles in the registry; the scorer reads its booster and spec from the
model's artifacts (see `FraudPyfunc.load_context`). nbo never imports this file.
"""

from mlflow.models import set_model

from models.fraud import FraudPyfunc

set_model(FraudPyfunc())
