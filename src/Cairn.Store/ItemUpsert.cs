using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Cairn.Core.State;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Cairn.Store;

/// <summary>
/// The job item upsert, the statement the store runs most (several times for every item of every job), prepared once
/// and bound through SQLite's own API: values go in as spans formatted on the stack, and the item's data is written as
/// UTF-8 JSON into a reused buffer. Through <see cref="SqliteCommand"/> each put made a binder object per parameter
/// and a string and a UTF-8 copy per value, about a tenth of all the memory a LUN job allocated (the garbage that makes
/// young-generation GC pauses while jobs run). Runs on the writer's connection, inside its transaction.
/// </summary>
internal sealed class ItemUpsert(SqliteConnection conn) : IDisposable
{
    private const string Text =
        "INSERT INTO job_items (job_id, idx, item_key, state, error, started, finished, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) " +
        "ON CONFLICT (job_id, idx) DO UPDATE SET item_key = excluded.item_key, state = excluded.state, error = excluded.error, " +
        "started = excluded.started, finished = excluded.finished, data = excluded.data";

    private static readonly string[] StateNames = Enum.GetValues<ItemState>().Select(s => s.ToString()).ToArray();

    private ArrayBufferWriter<byte> _json = new(1024);
    private Utf8JsonWriter? _writer;
    private sqlite3_stmt? _stmt;

    public void Put(JobItem i)
    {
        var db = conn.Handle!;
        if (_stmt is null)
        {
            Check(raw.sqlite3_prepare_v2(db, Text, out var stmt), db);
            _stmt = stmt;
        }
        var s = _stmt;
        try
        {
            Span<char> id = stackalloc char[36];
            i.JobId.TryFormat(id, out _, "D");
            Check(raw.sqlite3_bind_text16(s, 1, id), db);
            Check(raw.sqlite3_bind_int(s, 2, i.Index), db);
            Check(raw.sqlite3_bind_text16(s, 3, i.Key), db);
            var state = (int)i.State;
            Check(raw.sqlite3_bind_text16(s, 4, (uint)state < (uint)StateNames.Length ? StateNames[state] : i.State.ToString()), db);
            Check(i.Error is null ? raw.sqlite3_bind_null(s, 5) : raw.sqlite3_bind_text16(s, 5, i.Error), db);
            BindTime(s, 6, i.Started, db);
            BindTime(s, 7, i.Finished, db);
            if (i.Data is null) Check(raw.sqlite3_bind_null(s, 8), db);
            else
            {
                _json.ResetWrittenCount();
                if (_writer is null) _writer = new Utf8JsonWriter(_json);
                else _writer.Reset(_json);
                i.Data.WriteTo(_writer);
                _writer.Flush();
                Check(raw.sqlite3_bind_text(s, 8, _json.WrittenSpan), db);
            }
            var rc = raw.sqlite3_step(s);
            if (rc != raw.SQLITE_DONE) Check(rc, db);
        }
        finally
        {
            // Every parameter is bound again by the next put: resetting is enough.
            raw.sqlite3_reset(s);
        }
        // A large item must not keep a large buffer for the life of the store.
        if (_json.Capacity > 1 << 16)
        {
            _json = new ArrayBufferWriter<byte>(1024);
            _writer?.Dispose();
            _writer = null;
        }
    }

    private static void BindTime(sqlite3_stmt s, int index, DateTimeOffset? t, sqlite3 db)
    {
        if (t is not { } v)
        {
            Check(raw.sqlite3_bind_null(s, index), db);
            return;
        }
        Span<char> text = stackalloc char[32];
        if (!v.UtcDateTime.TryFormat(text, out var n, Sql.TimeFormat, CultureInfo.InvariantCulture))
            throw new FormatException("time does not fit its column format");
        Check(raw.sqlite3_bind_text16(s, index, text[..n]), db);
    }

    private static void Check(int rc, sqlite3 db)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, db);
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _stmt?.Dispose();
        _stmt = null;
    }
}
