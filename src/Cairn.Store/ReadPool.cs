using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Cairn.Store;

/// <summary>
/// Read connections with their prepared commands. In WAL mode each statement reads a consistent snapshot and
/// never waits for the writer, so reads stay fast while jobs commit.
/// </summary>
internal sealed class ReadPool(string path, int keep) : IDisposable
{
    private readonly ConcurrentBag<Reader> _idle = [];
    private volatile bool _disposed;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The reader goes back to the pool or is disposed in the finally block.")]
    public List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params object?[] args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_idle.TryTake(out var reader)) reader = new Reader(Sql.Open(path, readOnly: true));
        try
        {
            var cmd = reader.Command(sql);
            Sql.Bind(cmd, args);
            var list = new List<T>();
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read()) list.Add(map(r));
            }
            return list;
        }
        finally
        {
            if (_disposed || _idle.Count >= keep) reader.Dispose();
            else _idle.Add(reader);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var r)) r.Dispose();
    }

    private sealed class Reader(SqliteConnection conn) : IDisposable
    {
        private readonly Dictionary<string, SqliteCommand> _commands = [];

        [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "The SQL is compile-time text from this assembly; values are bound as parameters.")]
        public SqliteCommand Command(string sql)
        {
            if (!_commands.TryGetValue(sql, out var cmd))
            {
                cmd = conn.CreateCommand();
                cmd.CommandText = sql;
                _commands[sql] = cmd;
            }
            return cmd;
        }

        public void Dispose()
        {
            foreach (var c in _commands.Values) c.Dispose();
            conn.Dispose();
        }
    }
}
