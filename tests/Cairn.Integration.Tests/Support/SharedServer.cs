namespace Cairn.Integration.Tests.Support;

/// <summary>
/// One <c>cairn serve</c> for a whole test class (<c>IClassFixture&lt;SharedServer&gt;</c>), for tests that do not need
/// a server of their own: each test uses names of its own, and tests of one class run one after another. A test that
/// restarts the server sets <see cref="Server"/> to the new process.
/// </summary>
public sealed class SharedServer : IAsyncLifetime
{
    /// <summary>A temp directory of the fixture's own; the server's data directory is <c>data</c> inside it.</summary>
    public string Dir { get; } = TempDir.Create("cairn-shared");

    public CairnProcess Server { get; set; } = null!;

    public async ValueTask InitializeAsync() => Server = await CairnProcess.StartAsync(Path.Combine(Dir, "data"));

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
