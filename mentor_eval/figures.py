"""Deprecated alias of :mod:`mentor_eval.report.charts` and :mod:`mentor_eval.report.display`
under the 0.1 names (``flow_figure(frame)`` is now ``charts.flow_chart(frame)``); kept for one release."""

from mentor_eval.report.charts import ARM_COLORS, OKABE_ITO  # noqa: F401
from mentor_eval.report.charts import change_chart as change_figure  # noqa: F401
from mentor_eval.report.charts import flow_chart as flow_figure  # noqa: F401
from mentor_eval.report.charts import forest_chart as forest_figure  # noqa: F401
from mentor_eval.report.charts import item_distribution_chart as item_distribution_figure  # noqa: F401
from mentor_eval.report.charts import means_chart as means_figure  # noqa: F401
from mentor_eval.report.charts import reliable_change_chart as reliable_change_figure  # noqa: F401
from mentor_eval.report.display import figure_html, reset_plotlyjs, show, show_table  # noqa: F401
