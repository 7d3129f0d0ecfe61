describe("x",()=>{it("y",()=>{})});
