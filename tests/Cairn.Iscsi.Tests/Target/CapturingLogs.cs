using Microsoft.Extensions.Logging;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>One captured log event: its id, the formatted message, and every structured value as a string.</summary>
internal sealed record LogRecord(int EventId, LogLevel Level, string Message, IReadOnlyList<string> Values);

/// <summary>Keeps every event of every category (all levels), as a structured-logging sink would see it.</summary>
internal sealed class CapturingLogs : ILoggerProvider, ILogger
{
    private readonly List<LogRecord> _records = [];

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state is IEnumerable<KeyValuePair<string, object?>> kv
            ? kv.Select(p => p.Value?.ToString() ?? "").ToList()
            : [];
        lock (_records) _records.Add(new LogRecord(eventId.Id, logLevel, formatter(state, exception), values));
    }

    /// <summary>A copy of the events so far (the target may still be logging).</summary>
    public IReadOnlyList<LogRecord> Snapshot()
    {
        lock (_records) return [.. _records];
    }

    public void Dispose()
    {
        // Nothing to release: the records stay readable after the host is gone.
    }
}
