using Cairn.Core.Export;
using Cairn.Core.Services;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cairn.Export.Tests.Support;

/// <summary>What the exporter gets from Cairn in a test: real engines behind a pool router, and a real secret box.</summary>
public sealed class ExportContext(IVolumeEngine engine) : IExportContext
{
    public SecretBox Secrets { get; } = new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    public IVolumeEngine Engine => engine;

    public string OpenSecret(ChapCredential credential) => Secrets.Open(credential.SealedSecret);

    public ChapCredential Chap(string user, string secret) => new(user, Secrets.Seal(secret));
}

/// <summary>Keeps every formatted log line (all levels), to check that no secret is ever logged.</summary>
public sealed class CapturingLogger<T> : ILogger<T>
{
    public readonly List<string> Lines = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add($"{eventId.Id} {formatter(state, exception)} {exception}");
    }

    /// <summary>A copy of the lines so far (the target may still be logging).</summary>
    public IReadOnlyList<string> Snapshot()
    {
        lock (Lines) return [.. Lines];
    }
}

/// <summary>Hands every category of a host's logging to one <see cref="CapturingLogger{T}"/>.</summary>
public sealed class CapturingProvider<T>(CapturingLogger<T> log) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => log;

    public void Dispose()
    {
        // Nothing to release: the lines stay readable after the host is gone.
    }
}
