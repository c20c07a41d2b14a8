using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cairn.Core.Jobs;
using Cairn.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cairn.Api.Tests.Errors;

/// <summary>
/// The whole <c>cairn serve</c> composition (<see cref="ServerHost.Build"/>) on a loopback port over a temp directory,
/// with every log entry kept (<see cref="Logs"/>) so that tests can check what the server log would say.
/// </summary>
public sealed class ApiHost : IAsyncDisposable
{
    private WebApplication _app = null!;
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "cairn-api-" + Guid.NewGuid().ToString("N"));
    public HttpClient Http { get; private set; } = null!;
    public CapturedLogs Logs { get; } = new();
    public IServiceProvider Services => _app.Services;
    public JobEngine Jobs => _app.Services.GetRequiredService<JobEngine>();

    public static async Task<ApiHost> StartAsync(string pools = "tank")
    {
        var h = new ApiHost();
        var options = new CairnOptions { Data = h.Dir, Http = "127.0.0.1:0", Iscsi = "127.0.0.1:0", Socket = "none", Pools = pools, EngineSync = false };
        h._app = ServerHost.Build(options, b =>
        {
            b.Logging.ClearProviders();
            b.Logging.AddProvider(h.Logs);
            b.Logging.SetMinimumLevel(LogLevel.Debug);
        });
        await h._app.StartAsync();
        var addr = h._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First(a => a.StartsWith("http", StringComparison.Ordinal));
        h.Http = new HttpClient { BaseAddress = new Uri(addr), Timeout = TimeSpan.FromMinutes(2) };
        return h;
    }

    /// <summary>Sends a request; the answer's status, content type and body (parsed when it is JSON).</summary>
    public async Task<(HttpStatusCode Code, string? ContentType, JsonNode? Body, string Text)> SendAsync(string method, string path, string? json = null)
    {
        using var req = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var resp = await Http.SendAsync(req);
        var text = await resp.Content.ReadAsStringAsync();
        var type = resp.Content.Headers.ContentType?.MediaType;
        return (resp.StatusCode, type, type == "application/json" && text.Length > 0 ? JsonNode.Parse(text) : null, text);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>One log entry as a provider receives it.</summary>
public sealed record LogEntry(string Category, LogLevel Level, EventId Id, string Message, Exception? Exception);

/// <summary>Keeps every entry logged through it.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    /// <summary>Polls (generously) for an entry the server logs a moment after the event that causes it.</summary>
    public async Task<LogEntry?> WaitForAsync(Func<LogEntry, bool> match)
    {
        for (int i = 0; i < 600; i++)
        {
            if (_entries.FirstOrDefault(match) is { } e) return e;
            await Task.Delay(50);
        }
        return null;
    }

    public string Dump() => string.Join('\n', _entries.Select(e => $"{e.Level} {e.Category}[{e.Id.Id}] {e.Message}{(e.Exception is null ? "" : "\n" + e.Exception)}"));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
