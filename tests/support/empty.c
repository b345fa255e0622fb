/* Keeps the test-support library non-empty before any helper exists. */
typedef int fpmt_empty_translation_unit;
