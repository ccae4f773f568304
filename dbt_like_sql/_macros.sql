-- Macros every model may use; run before each model.

-- Words: runs of characters that are not ASCII whitespace (space, tab, newline, CR, VT, FF), as
-- Python's str.split() counts them on ASCII text. Text with one space between words and none at
-- either end (what the loaders make of most rows) takes the fast path: count the spaces, plus one.
-- Only text with a double space, a tab, a newline or an edge space pays for the regex (5x slower).
create or replace macro word_count(text_value) as
    case
        when text_value = '' then 0
        when contains(text_value, '  ') or starts_with(text_value, ' ') or suffix(text_value, ' ')
            or contains(text_value, chr(9)) or contains(text_value, chr(10)) or contains(text_value, chr(11))
            or contains(text_value, chr(12)) or contains(text_value, chr(13))
            then len(regexp_extract_all(text_value, '[^ \t\n\v\f\r]+'))
        else strlen(text_value) - strlen(replace(text_value, ' ', '')) + 1
    end;
