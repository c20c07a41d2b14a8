using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cairn.Iscsi.Target;

/// <summary>
/// The iSCSI listener: accepts TCP connections on its own socket and serves each through
/// <see cref="IscsiConnectionHandler"/> over pipes it fills and drains itself.
/// <para>
/// Not Kestrel's transport, for the write path: Kestrel receives into 4 KiB pool blocks, so a 4 KiB WRITE with its
/// 48-byte header took two or three <c>recv</c> calls and as many pipe flushes (perf stat under QEMU at queue depth
/// 32: 2.2 <c>recv</c> and 0.8 context switches per write). Here one <c>recv</c> takes up to
/// <see cref="ReceiveSegment"/> bytes, a whole queue of commands at once. Each connection has a thread of its own that
/// receives (blocking) and runs the connection's loop inline on what it received, so a batch of commands costs no
/// wake-up of another thread, and one connection's <c>fdatasync</c> holds up no other (bench qemu: CPU per 4 KiB write
/// 14 → 11 µs against handing each batch to the thread pool); the send side runs inline in the loop's flush, one
/// gathered <c>sendmsg</c> per flush. An idle connection's thread waits in <c>poll</c> holding no receive buffer.
/// </para>
/// </summary>
public sealed partial class IscsiListener : IHostedService, IAsyncDisposable
{
    /// <summary>How long a connection that ended may take to send what it wrote last.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Bytes one receive call may take.</summary>
    public const int ReceiveSegment = 256 << 10;

    private static readonly PipeOptions InputOptions = new(
        readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 << 10, minimumSegmentSize: ReceiveSegment, useSynchronizationContext: false);

    private static readonly PipeOptions OutputOptions = new(
        readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 << 10, minimumSegmentSize: 64 << 10, useSynchronizationContext: false);

    private readonly Socket _listen;
    private readonly bool _ownsSocket;
    private readonly IscsiConnectionHandler _handler;
    private readonly ILogger<IscsiListener> _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private Task? _accepting;
    private long _ids;

    /// <summary>Listens on <paramref name="endpoint"/> (port 0: a free port; see <see cref="LocalEndPoint"/>).</summary>
    public IscsiListener(IPEndPoint endpoint, IscsiConnectionHandler handler, ILogger<IscsiListener> log)
        : this(Bind(endpoint), ownsSocket: true, handler, log) { }

    /// <summary>Serves a socket already bound and listening; the caller keeps it and closes it after the host stopped.</summary>
    public IscsiListener(Socket listening, bool ownsSocket, IscsiConnectionHandler handler, ILogger<IscsiListener> log)
    {
        _listen = listening;
        _ownsSocket = ownsSocket;
        _handler = handler;
        _log = log;
    }

    /// <summary>Where it listens.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listen.LocalEndPoint!;

    private static Socket Bind(IPEndPoint endpoint)
    {
        var s = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any)) s.DualMode = true;
            s.Bind(endpoint);
            s.Listen(512);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _accepting = AcceptLoopAsync();
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await _listen.AcceptAsync(_stop.Token);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException e)
            {
                // ECONNABORTED and the like: that one connection is gone, the listener is not.
                Log.AcceptFailed(_log, e.SocketErrorCode.ToString());
                continue;
            }
            s.NoDelay = true;
            var id = "iscsi-" + Interlocked.Increment(ref _ids).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _connections[s] = Task.Run(() => ServeAsync(s, id));
        }
    }

    private async Task ServeAsync(Socket socket, string id)
    {
        var input = new Pipe(InputOptions);
        var output = new Pipe(OutputOptions);
        var closed = new Closing();
        var receiving = ReceiveOnThreadAsync(socket, input.Writer, closed, id);
        var sending = SendAsync(socket, output.Reader, closed);
        try
        {
            await _handler.ServeAsync(input.Reader, output.Writer, socket.LocalEndPoint, socket.RemoteEndPoint, id, closed.Token);
            // The connection completed its pipes: what it wrote is sent before the socket closes, unless the peer stopped
            // reading (then the close below ends the send).
            try { await sending.WaitAsync(DrainTimeout); }
            catch (TimeoutException) { }
        }
        finally
        {
            // Completing twice is harmless; this covers a connection that failed before it ran.
            await output.Writer.CompleteAsync();
            await input.Reader.CompleteAsync();
            try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            socket.Dispose();
            await Task.WhenAll(receiving, sending);
            closed.Release();
            _connections.TryRemove(socket, out _);
        }
    }

    /// <summary>The connection's thread: receive, then run its loop inline on the data (the input pipe's reader is inline).</summary>
    private static Task ReceiveOnThreadAsync(Socket socket, PipeWriter writer, Closing closed, string id)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            Exception? error = null;
            try
            {
                while (true)
                {
                    // Idle, wait without a buffer, so that idle sessions hold no receive memory; under load there is
                    // always data waiting and this is one FIONREAD.
                    if (socket.Available == 0) socket.Poll(-1, SelectMode.SelectRead);
                    var memory = writer.GetMemory(ReceiveSegment);
                    int n = socket.Receive(memory.Span, SocketFlags.None);
                    if (n == 0) break;
                    writer.Advance(n);
                    // Runs the connection's loop on this thread until it waits for more input; blocks only when the
                    // connection is behind by the pipe's pause threshold (backpressure).
                    var flush = writer.FlushAsync();
                    var flushed = flush.IsCompletedSuccessfully ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                    if (flushed.IsCompleted || flushed.IsCanceled) break;
                }
            }
            catch (SocketException e) { error = new IOException(e.Message, e); }
            catch (ObjectDisposedException) { }
            finally
            {
                writer.Complete(error);
                if (error is not null) closed.Cancel();
                done.SetResult();
            }
        }) { IsBackground = true, Name = "iscsi " + id };
        thread.Start();
        return done.Task;
    }

    private static async Task SendAsync(Socket socket, PipeReader reader, Closing closed)
    {
        var segments = new List<ArraySegment<byte>>();
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync();
                var buffer = read.Buffer;
                if (!buffer.IsEmpty)
                {
                    if (buffer.IsSingleSegment) await socket.SendAsync(buffer.First, SocketFlags.None);
                    else await SendGatheredAsync(socket, buffer, segments);
                }
                reader.AdvanceTo(buffer.End);
                if (read.IsCompleted || read.IsCanceled) break;
            }
            await reader.CompleteAsync();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The peer is gone: the connection's next flush sees the completed reader and stops.
            await reader.CompleteAsync(new IOException(e.Message, e));
            closed.Cancel();
        }
    }

    private static async Task SendGatheredAsync(Socket socket, ReadOnlySequence<byte> buffer, List<ArraySegment<byte>> segments)
    {
        segments.Clear();
        foreach (var m in buffer)
        {
            if (!MemoryMarshal.TryGetArray(m, out var a))
            {
                // Not array-backed (never with the default pool): send one by one.
                foreach (var part in buffer) await socket.SendAsync(part, SocketFlags.None);
                return;
            }
            segments.Add(a);
        }
        // A stream socket's gathered send may stop short: send the rest.
        long total = buffer.Length, sent = await socket.SendAsync(segments, SocketFlags.None);
        if (sent < total) foreach (var part in buffer.Slice(sent)) await socket.SendAsync(part, SocketFlags.None);
    }

    /// <summary>Tells the connection its transport failed (the token <see cref="IscsiConnection.RunAsync"/> watches).</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Released by ServeAsync once both pipe loops that use it ended; as IDisposable the CA2025 analyzer crashes (AD0001) on the tasks it is passed to")]
    private sealed class Closing
    {
        private readonly CancellationTokenSource _cts = new();

        public CancellationToken Token => _cts.Token;

        public void Cancel()
        {
            try { _cts.Cancel(); } catch (ObjectDisposedException) { }
        }

        /// <summary>Once both pipe loops ended.</summary>
        public void Release() => _cts.Dispose();
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_accepting is not null) await _accepting;
        // Sessions are asked to log out (the handler ends them when the application stops); then wait for them, as
        // long as the host's shutdown timeout allows, and close what is left.
        _handler.EndAll();
        try { await Task.WhenAll(_connections.Values).WaitAsync(cancellationToken); }
        catch (OperationCanceledException) { }
        foreach (var s in _connections.Keys) s.Dispose();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync();
        if (_ownsSocket) _listen.Dispose();
        foreach (var s in _connections.Keys) s.Dispose();
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "iscsi: accepting a connection failed ({Error}); still listening")]
        public static partial void AcceptFailed(ILogger logger, string error);
    }
}
