"""What strategies share and that is not a strategy: prompt builders (prompts), tree search over
partial solutions (search: nodes, value backup, budget allocation, beam planning, expansion with
prompts passed in as arguments), majority voting and adaptive stopping rules (voting), and sizing
from the remaining budget (sizing: how many calls fit, how long each may be, priced and held
against every cap). Answer parsing lives with the answer code, in reasoning.answers.

A subpackage of its own so that reasoning.strategies imports every module beside it as a strategy,
with no list of modules to leave out.
"""
