"""The scikit-learn parameter protocol, without depending on scikit-learn."""

import inspect


class ParamsMixin:
    """``get_params`` / ``set_params`` read from the ``__init__`` signature.

    Subclasses store every ``__init__`` keyword argument unchanged under the
    same attribute name, so that ``sklearn.base.clone`` can rebuild them.
    """

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(
            name for name, p in signature.parameters.items()
            if name != "self" and p.kind != p.VAR_KEYWORD
        )

    def get_params(self, deep=True):
        """Return the estimator's parameters as a dict (nested objects with ``deep``)."""
        params = {}
        for name in self._param_names():
            value = getattr(self, name)
            params[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params(deep=True).items():
                    params[f"{name}__{key}"] = sub
        return params

    def set_params(self, **params):
        """Set parameters (``name`` or ``name__subname``); returns ``self``."""
        valid = self._param_names()
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}. "
                    f"Valid parameters are: {valid}."
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._param_names())
        return f"{type(self).__name__}({args})"
