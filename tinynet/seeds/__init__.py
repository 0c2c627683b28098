"""Moved: the seeds' recurrent models are in ``tinynet.models`` (char_lstm,
timeseries_rnn, sentiment_lstm) and their training loops in
``tinynet.recipes`` (char_lm, forecast, sentiment). The modules here keep the
old names importable: ``train(config)`` (with its old return value) and
``main(argv)``, also as ``python -m tinynet.seeds.char_lstm``."""
