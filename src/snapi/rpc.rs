//! `snapi serve`: JSON-RPC 2.0 over stdio, one message per line.
//!
//! Methods are SNAPI command names (`clamp.verify`) plus `snapi.list`; `params` is the payload
//! object. Errors use the JSON-RPC codes: -32700 parse error, -32600 invalid request, -32601
//! unknown method, -32602 invalid params, -32000 the command failed. A malformed line gets an
//! error response and the server keeps serving; notifications (no `id`) get no response.

use std::io::{self, BufRead, Write};

use serde_json::{Value, json};

use super::{Snapi, SnapiError};

pub fn serve(snapi: &Snapi, input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(response) = handle_line(snapi, &line) {
            serde_json::to_writer(&mut output, &response)?;
            output.write_all(b"\n")?;
            output.flush()?;
        }
    }
    Ok(())
}

/// The response to one line, if it needs one.
pub fn handle_line(snapi: &Snapi, line: &str) -> Option<Value> {
    let message: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Some(error(Value::Null, -32700, &format!("Parse error: {e}"))),
    };
    match message {
        Value::Array(batch) if batch.is_empty() => {
            Some(error(Value::Null, -32600, "Invalid Request: empty batch"))
        }
        Value::Array(batch) => {
            let responses: Vec<Value> = batch
                .into_iter()
                .filter_map(|m| handle_message(snapi, m))
                .collect();
            (!responses.is_empty()).then_some(Value::Array(responses))
        }
        single => handle_message(snapi, single),
    }
}

fn handle_message(snapi: &Snapi, message: Value) -> Option<Value> {
    let Value::Object(mut request) = message else {
        return Some(error(Value::Null, -32600, "Invalid Request: not an object"));
    };
    let id = request.remove("id");
    let id_valid = matches!(
        id,
        None | Some(Value::Null | Value::String(_) | Value::Number(_))
    );
    let reply_id = if id_valid {
        id.clone().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if !id_valid || request.get("jsonrpc") != Some(&json!("2.0")) {
        return Some(error(
            reply_id,
            -32600,
            "Invalid Request: needs \"jsonrpc\": \"2.0\" and a string, number or null id",
        ));
    }
    let Some(Value::String(method)) = request.remove("method") else {
        return Some(error(
            reply_id,
            -32600,
            "Invalid Request: \"method\" must be a string",
        ));
    };
    let params = match request.remove("params") {
        None => json!({}),
        Some(p @ Value::Object(_)) => p,
        Some(_) => {
            return Some(error(
                reply_id,
                -32602,
                "Invalid params: SNAPI params are a JSON object",
            ));
        }
    };
    let outcome = if method == "snapi.list" {
        let commands: Vec<Value> = snapi
            .list()
            .into_iter()
            .map(|(name, summary)| json!({"name": name, "summary": summary}))
            .collect();
        Ok(json!({"commands": commands}))
    } else {
        snapi.call(&method, params)
    };
    // A notification gets no response, whatever happened.
    id.as_ref()?;
    Some(match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": reply_id}),
        Err(e) => {
            let code = match &e {
                SnapiError::BadName(_)
                | SnapiError::UnknownExtension(_)
                | SnapiError::UnknownCommand { .. } => -32601,
                SnapiError::InvalidPayload { .. } => -32602,
                SnapiError::Failed { .. } => -32000,
            };
            error(reply_id, code, &e.to_string())
        }
    })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}
