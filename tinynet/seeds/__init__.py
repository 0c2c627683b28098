"""The seeds' recurrent models, runnable as `tinynet train lstm|rnn|sentiment`
and as the scripts in examples/: the character language model
(``char_lstm``), the time-series forecaster (``timeseries_rnn``) and the
sentiment classifier (``sentiment_lstm``). Each module has ``train(config)``
and ``main(argv)``."""
