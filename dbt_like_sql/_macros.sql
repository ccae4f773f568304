-- Macros every model may use; run before each model.

-- Words as space-separated tokens of stripped text (loaders strip every text field). Counting
-- space bytes is several times faster than a regex split on LaMini-sized tables; a run of spaces
-- counts as several separators, a tab or newline as none.
create or replace macro word_count(text_value) as
    strlen(text_value) - strlen(replace(text_value, ' ', '')) + (text_value <> '')::int;
