using Cairn.Core.Storage;

namespace Cairn.Engine.Tests.Compliance;

/// <summary>The compliance suite on the embedded engine (one pool directory for the class).</summary>
public sealed class EmbeddedComplianceTests(EmbeddedComplianceTests.PoolFixture pool) : EngineComplianceTests, IClassFixture<EmbeddedComplianceTests.PoolFixture>
{
    protected override IVolumeEngine Engine => pool.Engine;
    protected override string Pool => "p";

    protected override (IVolumeEngine Engine, Func<IVolumeEngine> Reopen) OpenCrashable()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cairn-engine-tests", Guid.NewGuid().ToString("N"));
        pool.Extra.Add(dir);
        var options = new EmbeddedEngineOptions { Durable = true };
        return (new EmbeddedEngine(dir, options), () => new EmbeddedEngine(dir, options));
    }

    public sealed class PoolFixture : IDisposable
    {
        private readonly TempPool _dir = new();
        public EmbeddedEngine Engine { get; }
        public List<string> Extra { get; } = [];

        public PoolFixture() => Engine = _dir.Open(durable: true);

        public void Dispose()
        {
            Engine.Dispose();
            _dir.Dispose();
            foreach (var d in Extra)
                try { Directory.Delete(d, recursive: true); } catch (IOException) { }
        }
    }
}
