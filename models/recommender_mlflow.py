"""The MLflow "model from code" logged with every recommender: MLflow runs it at load time.

Logging the model as code keeps pickles out of the registry; the scorer reads its booster, spec,
catalogue and ALS factors from the model's artifacts. nbo never imports this file.
"""

from mlflow.models import set_model

from models.recommender import RecommenderPyfunc

set_model(RecommenderPyfunc())
