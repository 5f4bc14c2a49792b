//! One file per runbook action, each implementing `engine::Action`.
