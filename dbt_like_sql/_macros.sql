-- Macros every model may use; run before each model.

-- word_count(text) is not a macro but a Python function (lamini_assets/sql_functions.py), registered
-- on the connection before each model runs: runs of characters that are not ASCII whitespace, as
-- Python's str.split() counts on ASCII text; 3x faster than the SQL macro it replaced.
