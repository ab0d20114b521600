"""Sample text shared by the model-registry tests."""

# "A woman in hanbok stands in the yard of a hanok": Hangul only, lower-case-safe, no punctuation.
HANGUL_SENTENCE = "한복을 입은 여인이 한옥 마당에 서 있다"
