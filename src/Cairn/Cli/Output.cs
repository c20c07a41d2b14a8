using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Cairn.Core;

namespace Cairn.Cli;

/// <summary>
/// The CLI's one output convention: a list is a table with a header, one object is aligned <c>field: value</c> lines
/// (the field names are the JSON ones), and with <c>--json</c> every command prints one valid JSON document. Progress
/// goes to stderr, and only when stderr is a terminal (<see cref="Progress"/>).
/// </summary>
internal static class Output
{
    // Relaxed escaping: '+' in "+00:00" and non-ASCII names print as themselves, not as \u002B. Stdout is not HTML.
    private static readonly JsonWriterOptions Writer = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Json(JsonNode? node) => Write(w => { if (node is null) w.WriteNullValue(); else node.WriteTo(w); });

    /// <summary>Prints an answer as the server sent it (the same contract, the same field names), indented.</summary>
    public static void Json<T>(T value, JsonTypeInfo<T> type) => Write(w => JsonSerializer.Serialize(w, value, type));

    private static void Write(Action<Utf8JsonWriter> write)
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, Writer)) write(w);
        Console.Out.WriteLine(Encoding.UTF8.GetString(buf.WrittenSpan));
    }

    /// <summary>Prints rows as aligned columns with a header.</summary>
    public static void Table(string[] headers, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        void Line(string[] cells) => Console.WriteLine(string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd());
        Line(headers);
        foreach (var r in all) Line(r);
    }

    /// <summary>Prints one object as aligned <c>field: value</c> lines.</summary>
    public static void Fields(params (string Key, string Value)[] fields)
    {
        var w = fields.Max(f => f.Key.Length) + 1;
        foreach (var (k, v) in fields) Console.WriteLine($"{(k + ":").PadRight(w)} {v}");
    }

    public static string Str(string? s) => string.IsNullOrEmpty(s) ? "-" : s;

    public static string Str(long? n) => n is { } v ? v.ToString(CultureInfo.InvariantCulture) : "-";

    public static string List(IEnumerable<string> items) => items.Any() ? string.Join(", ", items) : "-";

    public static string Size(long? n) => n is { } v ? Sizes.Format(v) : "-";

    public static string Time(DateTimeOffset? t) => t is { } v ? v.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-";

    public static string Percent(double fraction) => ((int)(Math.Clamp(fraction, 0, 1) * 100)).ToString(CultureInfo.InvariantCulture) + "%";

    public static string Seconds(double? s) => s is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) + "s" : "-";

    /// <summary>A one-line progress bar: <c>[#########-----------]  45%</c>.</summary>
    public static string Bar(double fraction, int width = 30)
    {
        fraction = Math.Clamp(fraction, 0, 1);
        var filled = (int)Math.Round(fraction * width);
        return "[" + new string('#', filled) + new string('-', width - filled) + "] " + Percent(fraction).PadLeft(4);
    }
}

/// <summary>
/// A progress bar redrawn in place on stderr (<c>\r</c>), when stderr is a terminal; otherwise it does nothing, so
/// piped or captured runs get no extra output. <see cref="Done"/> leaves one final line (with the rate, when given).
/// </summary>
internal sealed class Progress
{
    private readonly string _label;
    private readonly Lock _lock = new();
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();
    private long _lastDraw;
    private bool _drawn;
    private bool _finished;

    public Progress(string label) => _label = label;

    /// <summary>True when stderr is a terminal: only then is anything drawn.</summary>
    public static bool Enabled { get; } = !Console.IsErrorRedirected;

    public TimeSpan Elapsed => System.Diagnostics.Stopwatch.GetElapsedTime(_start);

    /// <summary>Redraws the bar (at most ~10 times a second unless <paramref name="force"/>): a fraction, or null for
    /// work of unknown length (then the elapsed time only).</summary>
    public void Update(double? fraction, string? detail = null, bool force = false)
    {
        if (!Enabled) return;
        using var _ = _lock.EnterScope();
        if (_finished) return;
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!force && _drawn && System.Diagnostics.Stopwatch.GetElapsedTime(_lastDraw, now) < TimeSpan.FromMilliseconds(100)) return;
        _lastDraw = now;
        _drawn = true;
        var bar = fraction is { } f ? Output.Bar(f) + "  " : "";
        Console.Error.Write($"\r\x1b[K{_label} {bar}{Output.Seconds(Elapsed.TotalSeconds)}{(detail is null ? "" : "  " + detail)}");
    }

    /// <summary>Clears the bar so that a line can be printed; the next <see cref="Update"/> draws it again.</summary>
    public void Clear()
    {
        if (!Enabled) return;
        using var _ = _lock.EnterScope();
        if (!_drawn) return;
        Console.Error.Write("\r\x1b[K");
        _drawn = false;
    }

    /// <summary>Calls <paramref name="draw"/> every 200 ms until disposed (for work that reports no progress of its
    /// own); null, drawing nothing, when stderr is not a terminal.</summary>
    public static Timer? Tick(Action draw) => Enabled ? new Timer(_ => draw(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(200)) : null;

    /// <summary>Replaces the bar with a final line: <c>LABEL done: 64.0M in 1.2s (53.3M/s)</c>, or with
    /// <paramref name="summary"/> when given.</summary>
    public void Done(long? bytes = null, string? summary = null)
    {
        if (!Enabled) return;
        // A tick still under way (Tick's timer) must not draw the bar again below the final line.
        lock (_lock) _finished = true;
        Clear();
        var secs = Math.Max(Elapsed.TotalSeconds, 0.001);
        var rate = bytes is { } b ? $"{Sizes.Format(b)} in {Output.Seconds(secs)} ({Sizes.Format((long)(b / secs))}/s)" : $"in {Output.Seconds(secs)}";
        Console.Error.WriteLine($"{_label} done: {summary ?? rate}");
    }
}

/// <summary>What <c>cairn volume export --json</c> prints (the CLI's own answer: export itself streams an image).</summary>
internal sealed record ExportedImage(string Volume, string File, long Size, long Written);

/// <summary>What a command whose call answers with no body prints with <c>--json</c>: the name it destroyed.</summary>
internal sealed record DestroyedAnswer(string Destroyed);

/// <summary>What <c>cairn target delete --json</c> prints.</summary>
internal sealed record DeletedAnswer(string Deleted);

/// <summary>Source-generated JSON for the CLI's own shapes, in the API's conventions.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ExportedImage))]
[JsonSerializable(typeof(DestroyedAnswer))]
[JsonSerializable(typeof(DeletedAnswer))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
