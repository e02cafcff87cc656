//! Server-sent events: lines in, events out (the WHATWG event-stream rules,
//! minus what a JSON-RPC client does not need: no reconnection here).

/// One dispatched event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:`; empty means the default type, `message`.
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen so far in the stream.
    pub id: Option<String>,
    /// The last `retry:` seen so far, in milliseconds.
    pub retry: Option<u64>,
}

impl Event {
    /// Whether this event carries a message (the default type).
    pub fn is_message(&self) -> bool {
        self.event.is_empty() || self.event == "message"
    }
}

/// The data of one event grew beyond the cap.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge;

pub struct Parser {
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
    retry: Option<u64>,
    max_data: usize,
    dispatched: usize,
}

impl Parser {
    pub fn new(max_data: usize) -> Self {
        Parser {
            event: String::new(),
            data: String::new(),
            has_data: false,
            id: None,
            retry: None,
            max_data,
            dispatched: 0,
        }
    }

    /// Feeds one line (without its line ending); a blank line dispatches.
    pub fn line(&mut self, line: &str) -> Result<Option<Event>, TooLarge> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                let grown = self.data.len() + value.len() + 1;
                if grown > self.max_data {
                    self.reset();
                    return Err(TooLarge);
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// The last event id the stream gave (also by an event without data,
    /// such as a priming event): where a resumed stream goes on from.
    pub fn last_id(&self) -> Option<&str> {
        self.id.as_deref().filter(|id| !id.is_empty())
    }

    /// The reconnection delay the stream asked for, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Events dispatched since this parser was made or resumed: a stream
    /// that ended with none gave nothing but a reason to reconnect.
    pub fn dispatched(&self) -> usize {
        self.dispatched
    }

    /// A parser for the resumed stream, knowing the last id and delay.
    pub fn resumed(&self) -> Parser {
        Parser {
            id: self.id.clone(),
            retry: self.retry,
            ..Parser::new(self.max_data)
        }
    }

    /// At the end of the stream: an event the server did not finish with a
    /// blank line is still delivered; some servers close right after it.
    pub fn finish(&mut self) -> Option<Event> {
        self.dispatch()
    }

    fn dispatch(&mut self) -> Option<Event> {
        if !self.has_data {
            self.event.clear();
            return None;
        }
        let event = Event {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
            retry: self.retry,
        };
        self.has_data = false;
        self.dispatched += 1;
        Some(event)
    }

    fn reset(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str) -> Vec<Event> {
        let mut parser = Parser::new(1024);
        let mut out = Vec::new();
        for line in text.split('\n') {
            if let Some(event) = parser.line(line.trim_end_matches('\r')).unwrap() {
                out.push(event);
            }
        }
        out.extend(parser.finish());
        out
    }

    #[test]
    fn fields_and_multi_line_data() {
        let got = events("retry: 3000\nid: 7\nevent: message\ndata: {\"a\":\ndata:1}\n\n");
        assert_eq!(
            got,
            vec![Event {
                event: "message".into(),
                data: "{\"a\":\n1}".into(),
                id: Some("7".into()),
                retry: Some(3000),
            }]
        );
    }

    #[test]
    fn comments_and_empty_events_dispatch_nothing() {
        assert!(events(": keep-alive\n\nid: 1\n\nevent: x\n\n").is_empty());
    }

    #[test]
    fn several_events_and_an_unterminated_last_one() {
        let got = events("data: one\n\ndata:two\r\n\r\ndata: three");
        let data: Vec<&str> = got.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, vec!["one", "two", "three"]);
        assert!(got.iter().all(Event::is_message));
    }

    #[test]
    fn a_named_event_is_not_a_message() {
        let got = events("event: endpoint\ndata: /x\n\n");
        assert_eq!(got.len(), 1);
        assert!(!got[0].is_message());
    }

    #[test]
    fn oversized_data_is_refused() {
        let mut parser = Parser::new(10);
        assert_eq!(parser.line("data: 12345"), Ok(None));
        assert_eq!(parser.line("data: 67890"), Err(TooLarge));
        assert_eq!(parser.line(""), Ok(None));
    }
}
