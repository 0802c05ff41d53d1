//! PyO3 glue: numpy in and out, dtype dispatch, shape checks, error mapping.
